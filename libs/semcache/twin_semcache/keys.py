"""What makes two requests the same for the cache: the scope (tenant, route, model version, template version,
filters) and the normalised question.

The scope is hashed into one id: an entry is only ever found by a request with the identical scope, so a new model
version or prompt template starts from an empty cache, and two tenants never share an entry (the tenant is also a
separate tag on every semantic entry and is checked again on every hit). The question that reaches the cache is
the masked one (placeholders, never the caller's values).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field

_SPACE = re.compile(r"\s+")
_EDGE_PUNCT = re.compile(r"^[\s\"'`]+|[\s\"'`?!.]+$")


def normalise_question(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed, surrounding quotes and final ?!. dropped."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _EDGE_PUNCT.sub("", _SPACE.sub(" ", text))


@dataclass(frozen=True)
class Scope:
    tenant_id: str
    route: str
    model_version: str
    template_version: str
    filters: dict = field(default_factory=dict)  # authors, kinds, tags: anything that changes what is retrieved

    @property
    def scope_id(self) -> str:
        canonical = json.dumps(
            {
                "tenant": self.tenant_id,
                "route": self.route,
                "model_version": self.model_version,
                "template_version": self.template_version,
                "filters": {k: sorted(v) if isinstance(v, list | tuple | set) else v for k, v in self.filters.items()},
            },
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def exact_digest(scope: Scope, question: str) -> str:
    return hashlib.sha256(f"{scope.scope_id}\n{normalise_question(question)}".encode()).hexdigest()
