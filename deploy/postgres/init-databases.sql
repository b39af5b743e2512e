-- One database per service: no service reads another's tables
-- (docs/architecture.md#the-shape-of-a-service).
-- Run once by the postgres image on an empty data volume, as POSTGRES_USER (onestop),
-- from /docker-entrypoint-initdb.d/. Each service creates its own tables with
-- `python -m services.<name> migrate`.
-- tests/contract/test_compose.py checks every *_DATABASE_URL in docker-compose.yml
-- names a database created here.

CREATE DATABASE intake OWNER onestop ENCODING 'UTF8' TEMPLATE template0;
CREATE DATABASE digitization OWNER onestop ENCODING 'UTF8' TEMPLATE template0;
CREATE DATABASE processing OWNER onestop ENCODING 'UTF8' TEMPLATE template0;
CREATE DATABASE notification OWNER onestop ENCODING 'UTF8' TEMPLATE template0;
CREATE DATABASE reporting OWNER onestop ENCODING 'UTF8' TEMPLATE template0;
