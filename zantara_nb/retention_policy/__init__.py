"""The retention policy: keep the trends, delete the raw data past its age.

``zantara-nb retention apply`` (daily, from the scheduler or cron):

1. **roll up** every local day that is about to leave the raw window, into tables
   without person identifiers (:mod:`zantara_nb.warehouse.rollups`): active users
   (DAU, WAU, MAU), counts per event, query category and country, messages, replies,
   latency percentiles, cost, ratings, errors, MRR, and the cohort retention cells;
2. **delete** raw events older than ``events_days`` (seed: 90), except each person's
   *history skeleton* (see :mod:`.apply`), quarantined rows older than
   ``quarantine_days`` and persons not seen for ``persons_days``;
3. record the run (``retention_runs``): the cut-off and the *horizon* before which the
   metric functions read the roll-ups.

What lives here: :mod:`.policy` (the ages, ``parameters/retention.yaml``),
:mod:`.build` (computing the roll-ups with the metric functions themselves, so a
rolled-up number is the number the report showed), :mod:`.apply` (the run) and
:mod:`.cli`. May import: ``warehouse``, ``metrics``.
"""
