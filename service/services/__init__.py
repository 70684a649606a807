"""The service layer: one function per use case, registered in the operation catalogue."""
from service.services import (distribution, dumps, keys, metrics,  # noqa: F401  (registers)
                              outbox, privacy, results, surveys, tracking)
from service.services.catalogue import OPERATIONS, Operation, Principal, invoke
from service.services.runtime import Runtime

__all__ = ["OPERATIONS", "Operation", "Principal", "Runtime", "invoke"]
