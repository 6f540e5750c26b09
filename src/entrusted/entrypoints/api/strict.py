"""The base of every request body: a field the model does not name is refused (422).

Ignoring it would be worse than refusing: a misspelt scope field (`"readonly": true` for
`read_only`) would be dropped in silence and the request granted with the default scope, the
wider one. A response model is not one of these: clients must tolerate fields added later.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
