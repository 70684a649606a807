"""The service layer: one function per use case, registered in the operation catalogue.

Importing a module of operations registers its ``@operation`` functions. The
import below is the one place that decides what the catalogue holds: a new
module of operations is added to it and to OPERATION_MODULES
(tests/unit/test_catalogue.py checks that both name every such module).
"""
from service.services import (contacts, crm, distribution, dumps, keys, metrics, outbox, privacy,
                              results, surveys, tracking)
from service.services.catalogue import OPERATIONS, Operation, Principal, invoke
from service.services.runtime import Runtime

#: The modules whose operations make up the catalogue.
OPERATION_MODULES = (contacts, crm, distribution, dumps, keys, metrics, outbox, privacy, results,
                     surveys, tracking)

__all__ = ["OPERATIONS", "OPERATION_MODULES", "Operation", "Principal", "Runtime", "invoke"]
