"""The database for every service: engine and runtime tables, bulk writes, migrations, sealed
columns, the audit trail."""
