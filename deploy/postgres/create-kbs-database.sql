-- Run once by the postgres image on an empty data volume (docker-entrypoint-initdb.d):
-- the manager uses the database POSTGRES_DB (propeller), the KBS its own.
CREATE DATABASE kbs OWNER propeller;
