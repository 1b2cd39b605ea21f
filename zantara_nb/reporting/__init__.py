"""Reports: run the notebooks, render them, build the digest and deliver it.

The weekly path, as separate steps (the way notebooker separates them): read a suite's
parameters (``suite``), execute its notebooks with papermill (``runner``), render reader
and analyst pages (``render``, ``templates/``), build the e-mail digest from the metric
library (``digest``, ``narrative``) and send it (``email``); ``schedule`` runs suites on
their cron lines. ``report`` holds the blocks the notebooks call (headline cards, tables
and charts).

May import everything below it: ``zantara_nb.metrics``, ``zantara_nb.insights``,
``zantara_nb.warehouse``, ``zantara_nb.display`` and ``zantara_nb.config``.
"""
