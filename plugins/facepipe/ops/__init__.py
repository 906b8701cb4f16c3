"""Operating facepipe: the command line, Airflow on one machine, the status table, the
demo and the sample photos it lays out, the worker's host name."""
