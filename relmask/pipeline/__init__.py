"""The method itself, shared by every domain: data sets and splits (``data``), relevance-based masking
(``masking``), the map controls (``controls``) and the training of one model or a group of them (``training``)."""
