"""Sources: the dataset catalogue (``boundaries/catalogue.toml``), finding and verifying files
(data folder -> cache -> download), the content-keyed cache, the readers, the inputs by role and the
inventory of the data folder. Nothing here knows about systems, places or neighbourhoods.

Modules are imported one by one (``from icsgeo.sources.catalogue import catalogue``): this package
imports nothing, so the light single-lookup path never loads the readers (pandas).
"""
