"""The size unit of mapped weights, shared by the executor (`mapped`) and the planner (`memory.cpu_stages`).

Its own torch-free module at the bottom layer: the planner must stay importable without torch (the app
plans on its GUI thread) and `loading`, below `memory`, applies it."""

#: mapped weights (CPU): the most an upcast copy of one Linear weight may take; larger ones run in row chunks
UNIT_BYTES = 256 << 20
