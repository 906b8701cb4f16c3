"""facepipe on several machines, played on one: see cluster/local.py and README "Several machines"."""
