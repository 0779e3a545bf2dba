-- microtrigger install script, built by the Makefile from src/sql/*.sql in name order.
\echo Use "CREATE EXTENSION microtrigger" to load this file. \quit
