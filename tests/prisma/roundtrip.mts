// A plugin's runtime: its generated Prisma client on the connection plugin-db delivered.
// Writes and reads its own tables, then tries another plugin's table with the same login.
//   PLUGIN_CONNECTION='{...}' OTHER_TABLE='"schema"."table"' REPORT_TITLE=... \
//     tsx roundtrip.mts GENERATED_DIR
import path from "node:path";
import { pathToFileURL } from "node:url";

import { startPrisma } from "../../examples/platform-node/prisma.mts";

const connection = JSON.parse(process.env.PLUGIN_CONNECTION ?? "{}");
const client = pathToFileURL(path.resolve(process.argv[2], "client.ts")).href;
const { PrismaClient } = await import(client);
const prisma: any = await startPrisma(PrismaClient, connection);
try {
  const created = await prisma.customReport.create({
    data: { title: process.env.REPORT_TITLE ?? "Quarterly", pageCount: 3, reportComments: { create: [{ body: "first" }, { body: "second" }] } },
  });
  await prisma.customReport.update({ where: { id: created.id }, data: { status: "PUBLISHED" } });
  const report = await prisma.customReport.findUnique({
    where: { id: created.id },
    include: { reportComments: { orderBy: { id: "asc" } } },
  });
  const drafts = await prisma.customReport.count({ where: { status: "DRAFT" } });
  let other: string;
  try {
    const rows = await prisma.$queryRawUnsafe(`SELECT * FROM ${process.env.OTHER_TABLE}`);
    other = `read ${rows.length} rows`;
  } catch (error) {
    other = `denied: ${(error as Error).message}`;
  }
  console.log(
    JSON.stringify({
      id: report.id,
      title: report.title,
      status: report.status,
      pageCount: report.pageCount,
      comments: report.reportComments.map((c: { id: number; body: string }) => [c.id, c.body]),
      drafts,
      other,
    }),
  );
} finally {
  await prisma.$disconnect();
}
