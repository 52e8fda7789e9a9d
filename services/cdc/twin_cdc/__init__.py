"""Log-based change data capture: registers and supervises the Debezium PostgreSQL connector."""
