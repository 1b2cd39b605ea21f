"""The rights of the person (seed section 5): export, erasure, suppression, consent.

What lives here:

- :mod:`.resolve`      an id (person id, any distinct id, or an e-mail held in person
                       properties) to the person's whole identity group;
- :mod:`.export`       every row of that group, as one JSON file (``docs/gdpr.md``);
- :mod:`.erase`        delete the group everywhere the warehouse holds it, record an
                       audit row and suppress the ids; ``dry_run`` shows what would go;
- :mod:`.suppression`  salted hashes of erased ids, checked by the loader so a person
                       loaded again from an old file or a PostHog pull stays deleted;
- :mod:`.consent`      analytics-consent decisions recorded at ingest (hashed ids) and
                       the per-day counts of events not stored for lack of consent;
- :mod:`.tables`       the tables above and how a person's rows are found in any table;
- :mod:`.runs`         stored report runs whose data included the person;
- :mod:`.posthog`      PostHog's persons API: delete the person with their events.

May import: ``zantara_nb.config``, ``zantara_nb.warehouse`` and
``zantara_nb.reporting.manifest`` (run manifests). The loader imports
:mod:`.suppression` and :mod:`.consent`, which import only the warehouse.
"""

from .erase import DeleteResult, delete_person
from .export import export_person
from .resolve import IdentityGroup, resolve

__all__ = ["DeleteResult", "IdentityGroup", "delete_person", "export_person", "resolve"]
