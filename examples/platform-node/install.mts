// A platform installing a plugin through plugin-db's HTTP API, using only fetch:
//   1. provision its storage, 2. wait for the operation, 3. register its declarative schema
//   and wait, 4. fetch the connection, 5. start the plugin's Prisma client on it and use it.
//
//   PLUGIN_DB_API=http://127.0.0.1:8080 PLUGIN_DB_TOKEN=... \
//     tsx install.mts PLUGIN_ID MANIFEST.json SCHEMA.json GENERATED_CLIENT_DIR
import { readFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { PluginDb } from "./platform.mts";
import { startPrisma } from "./prisma.mts";

const [pluginId, manifestFile, schemaFile, clientDir] = process.argv.slice(2);
const api = new PluginDb(process.env.PLUGIN_DB_API ?? "http://127.0.0.1:8080", process.env.PLUGIN_DB_TOKEN ?? "");
const log = (step: string, detail: object) => console.log(JSON.stringify({ step, ...detail }));

const manifest = { ...JSON.parse(await readFile(manifestFile, "utf8")), id: pluginId };
const provisioned = await api.wait(await api.provision(pluginId, manifest, `install-${pluginId}`));
log("provisioned", { operation_id: provisioned.operation_id, state: provisioned.state });

// The document as the plugin's authors wrote it, for this plugin id and its namespace.
const namespace = pluginId.replaceAll("-", "_");
const schema = JSON.parse(await readFile(schemaFile, "utf8"));
schema.pluginId = pluginId;
schema.metadata.namespace = namespace;
for (const table of schema.tables) table.namespace = namespace;
const registered = await api.wait(await api.registerSchema(pluginId, schema, `schema-${pluginId}`));
log("schema", { operation_id: registered.operation_id, state: registered.state });

const connection = await api.connection(pluginId);
log("connection", { provider: connection.provider, generation: connection.generation });

const { PrismaClient } = await import(pathToFileURL(path.resolve(clientDir, "client.ts")).href);
const prisma: any = await startPrisma(PrismaClient, connection);
try {
  const report = await prisma.customReport.create({ data: { title: `Installed ${pluginId}` } });
  const found = await prisma.customReport.findUnique({ where: { id: report.id } });
  log("prisma", { title: found.title, status: found.status });
} finally {
  await prisma.$disconnect();
}
