"""Base model: camelCase JSON on the wire, snake_case in Python."""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ContractModel(BaseModel):
    """Every contract serialises with camelCase aliases and accepts either spelling.

    Unknown fields are ignored on read so that an older consumer keeps working when a
    producer adds an optional field (forward compatibility); the HTTP layer overrides
    this with ``extra="forbid"`` where a typo from a client should be an error.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        extra="ignore",
        frozen=True,
    )
