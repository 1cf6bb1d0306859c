"""Streamlit glue shared by the entry script and the pages; no maths (that is `diffusion/`'s).

Not a page: the leading underscore keeps it out of Streamlit's page scan, and dashboard.py
registers its pages explicitly. The pages import the modules they use, by name:

- models: the session's current and earlier models, named by a server-unique `ModelId`;
- settings: the sidebar's model settings and the Train page's training settings, as configs;
- caches: a model's views, cached per `ModelId` and built ahead during a run;
- display: how the pages draw charts and a model's quality line;
- training: the session's training job, its controls, its snapshots becoming the model;
- switching: an upload or an earlier model becoming the current one;
- status: what dashboard.py computes for every page, the sidebar's status, the mismatch banner.

Each imports only those above it in this list.
"""
