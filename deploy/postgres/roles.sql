-- The PostgreSQL roles and grants notifyd needs: no superuser. Run once per cluster as a superuser (or a role with
-- CREATEROLE and CREATEDB), against the primary:
--
--   psql -h PRIMARY -U postgres -v db=notify -f deploy/postgres/roles.sql
--   psql -h PRIMARY -U postgres -c '\password notifyd'        # the password never goes in a file or in argv
--
-- Idempotent: running it again changes nothing. `db` defaults to `notify`.
--
--   notifyd          the daemon (every instance): owns the database's `public` schema, so its migrations, which
--                    run at start under an advisory lock, create and alter its own tables. It can create nothing
--                    outside that database, no roles, no databases; it reads `pg_stat_activity` only for the pids
--                    of its own sessions (a claimed delivery whose claimer is gone).
--   notify_readonly  dashboards, operators' ad-hoc queries, reports on a replica: SELECT on every table the daemon
--                    has made or will make; a login role is granted it (`GRANT notify_readonly TO alice`).
\set ON_ERROR_STOP on
\if :{?db}
\else
  \set db notify
\endif

SELECT 'CREATE ROLE notifyd LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 100'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'notifyd') \gexec
SELECT 'CREATE ROLE notify_readonly NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'notify_readonly') \gexec
SELECT format('CREATE DATABASE %I OWNER notifyd ENCODING %L TEMPLATE template0', :'db', 'UTF8')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec

\connect :"db"
-- Nobody else creates objects here (PostgreSQL 15 already revokes this; older servers do not).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO notifyd;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO notifyd;
GRANT CONNECT ON DATABASE :"db" TO notify_readonly;
GRANT USAGE ON SCHEMA public TO notify_readonly;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO notify_readonly;
ALTER DEFAULT PRIVILEGES FOR ROLE notifyd IN SCHEMA public GRANT SELECT ON TABLES TO notify_readonly;
