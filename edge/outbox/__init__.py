"""The durable outbox: a message exists once its row is committed here (see outbox.py).

rows.py     OutboxRow, encode_payload, the budget's constants
store.py    every SQL statement (also used by `checkpoint-edge outbox`)
budget.py   which rows go when the disk budget is reached (pure)
ledger.py   the memory: counts, sequence numbers, acknowledged rows, the RAM spill
writer.py   the single writer thread: group commit, `seq` stamped at commit
outbox.py   Outbox: submit / append / stamp / pending / delete / drop / health
"""

from edge.contract.kinds import KINDS
from edge.outbox.outbox import Outbox
from edge.outbox.rows import DEFAULT_MAX_BYTES, DROP_PRIORITY, ROW_OVERHEAD_BYTES, OutboxRow, encode_payload

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DROP_PRIORITY",
    "KINDS",
    "ROW_OVERHEAD_BYTES",
    "Outbox",
    "OutboxRow",
    "encode_payload",
]
