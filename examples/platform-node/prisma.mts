// Start a generated Prisma 7 client (prisma-client generator, no engine binaries) on the
// connection plugin-db delivers, through the driver adapter of its provider.
import type { Connection } from "./platform.mts";

type ClientClass<T> = new (options: { adapter: unknown }) => T;

/** The driver adapter for a connection document (PostgreSQL gets the plugin's schema). */
export async function adapterFor(connection: Connection): Promise<unknown> {
  const url = new URL(connection.url);
  if (url.protocol === "postgresql:") {
    const { PrismaPg } = await import("@prisma/adapter-pg");
    const schema = url.searchParams.get("schema") ?? connection.schema ?? "public";
    url.searchParams.delete("schema");
    return new PrismaPg({ connectionString: url.toString() }, { schema });
  }
  if (url.protocol === "mysql:") {
    const { PrismaMariaDb } = await import("@prisma/adapter-mariadb");
    return new PrismaMariaDb({
      host: url.hostname,
      port: Number(url.port || 3306),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: url.pathname.slice(1),
      connectionLimit: 2,
    });
  }
  if (url.protocol === "file:") {
    const { PrismaBetterSqlite3 } = await import("@prisma/adapter-better-sqlite3");
    return new PrismaBetterSqlite3({ url: connection.url });
  }
  throw new Error(`no Prisma driver adapter for ${url.protocol}`);
}

/** A client of the generated ``PrismaClient`` class on ``connection``. */
export async function startPrisma<T>(PrismaClient: ClientClass<T>, connection: Connection): Promise<T> {
  return new PrismaClient({ adapter: await adapterFor(connection) });
}
