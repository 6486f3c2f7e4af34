"""Catalogue jobs: `python -m twgtm batch` over a manifest or folders, on one process or many (accelerate).

- `manifest`: rows from a CSV / JSONL manifest or two folders with a pairing rule -> checked `Item`s;
- `plan`: seeds from ids, batches of one task, settings and size, every item's place fixed by the job alone;
- `store`: atomic outputs, sidecar JSONs, the done check, failures.csv and summary.json;
- `runner`: the only module that loads models and calls pipelines;
- `job`: the process flow (plan on the main process, share the batches, run, barrier, report);
- `report`, `cli`: the table, the dry-run listing and the command's options.
"""
