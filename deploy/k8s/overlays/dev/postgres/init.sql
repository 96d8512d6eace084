-- DEV ONLY. Runs once, when the data directory is first initialised: one role and one
-- database per service, and no service may connect to the other's database.
CREATE ROLE events LOGIN PASSWORD 'dev-events-password';
CREATE DATABASE guarantor_events OWNER events;
REVOKE ALL ON DATABASE guarantor_events FROM PUBLIC;

CREATE ROLE guarantees LOGIN PASSWORD 'dev-guarantees-password';
CREATE DATABASE guarantor_guarantees OWNER guarantees;
REVOKE ALL ON DATABASE guarantor_guarantees FROM PUBLIC;
