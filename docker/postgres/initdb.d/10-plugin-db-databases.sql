-- Databases plugin-db uses on the bundled PostgreSQL server (docker-compose.yml):
--   plugin_db  tracking tables (PLUGIN_DB_DATABASE_URL, migrated by `plugin-db db upgrade`)
--   plugins    one schema per exclusive-postgres plugin (PLUGIN_DB_POSTGRES_ADMIN_URL)
--   shared     the platform's shared database, for `shared` mode (PLUGIN_DB_SHARED_URL)
--
-- The postgres image runs this file once, when its data volume is first initialised; it is
-- idempotent, so it can also be replayed by hand on an existing volume:
--   docker compose exec -T postgres psql -U postgres -d postgres \
--     < docker/postgres/initdb.d/10-plugin-db-databases.sql
SELECT 'CREATE DATABASE plugin_db'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'plugin_db')\gexec
SELECT 'CREATE DATABASE plugins'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'plugins')\gexec
SELECT 'CREATE DATABASE shared'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'shared')\gexec
