"""The fields of `entrusted.config.Settings`, one mixin per area, so that no module grows
past the size STYLE.md allows. Import settings from `entrusted.config`, never from here:
`Settings` joins these mixins (pydantic merges their fields and validators through the
MRO) and adds the `ENTRUSTED_` prefix, `extra="forbid"` and `frozen=True`."""
