"""The DriftCaps leaderboard: ingest results folders and submissions, compare adapter
checkpoints. Not built yet; the eval and drift reports it will ingest are
:class:`driftcaps.report.EvalReport` and :class:`driftcaps.report.DriftReport`."""
