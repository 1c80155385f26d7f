-- Mounted into the postgres container's /docker-entrypoint-initdb.d by docker-compose.yml.
-- Runs once, as the POSTGRES_USER (marops), when the data volume is empty: one database
-- per service, each owned by marops. Each service applies its own migrations on start.
-- To re-run it: docker compose down -v (drops the data volume).
CREATE DATABASE intake;
CREATE DATABASE governance;
CREATE DATABASE budget;
CREATE DATABASE metrics;
