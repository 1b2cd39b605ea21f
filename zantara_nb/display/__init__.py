"""How numbers and charts look, wherever they are shown.

What lives here: number, money, percentage and change formatting (``formatting``) and
the chart helpers every result, notebook and e-mail uses (``charts``).

May import: third-party libraries and ``zantara_nb.config`` only, so that metrics and
reports can both use it.
"""
