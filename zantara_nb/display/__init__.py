"""How numbers and charts look, wherever they are shown.

What lives here: number, money, percentage and change formatting (``formatting``), the
one function that makes user-controlled text fit to display (``text.safe_text``:
personal data redacted, invisible characters dropped, long values shortened) and the
chart helpers every result, notebook and e-mail uses (``charts``).

May import: third-party libraries, ``zantara_nb.config`` and ``zantara_nb.warehouse.pii``
(the shared personal-data patterns, standard library only), so that metrics and reports
can both use it.
"""
