"""Replica kinds beyond direct streaming: delayed replicas and cascading replication.

- :mod:`.plan`: who streams from whom and with what apply delay, from the environment's
  ``topology.replica_settings`` (validated: replicas that exist, no cycles, delays that parse);
- :mod:`.tree`: the streaming tree as the nodes report it (``pg_stat_wal_receiver`` on each
  replica, ``pg_stat_replication`` on each sender), and the drill part that samples the lag of
  cascaded and delayed replicas and reports them;
- :mod:`.delayed`: the drill "accidental DROP, recover it from the delayed replica";
- :mod:`.measure`: pure numbers over the history (recovery phases, a leaf's lag).
"""
