"""facepipe on several machines, played on one: see cluster/local.py and docs/operating.md "Several machines"."""
