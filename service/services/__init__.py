"""The service layer: one function per use case, registered in the operation catalogue."""
from service.services import (crm, distribution, dumps, keys,  # noqa: F401  (registers)
                              metrics, outbox, privacy, results, surveys, tracking)
from service.services.catalogue import OPERATIONS, Operation, Principal, invoke
from service.services.runtime import Runtime

__all__ = ["OPERATIONS", "Operation", "Principal", "Runtime", "invoke"]
