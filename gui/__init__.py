"""The Streamlit app's code, by layer. ``app.py`` and ``pages/`` import it; ``mm_core`` never does.

Each folder is a layer, and its ``__init__`` lists its modules:

=================  ==============================================================================
``shell/``         the Streamlit shell, the only layer that imports Streamlit: page frame, session
                   state (one module), caching (one module), state-changing actions, widgets,
                   the Model and Plan pages' builders
``figures/``       pure Plotly figure builders (data in, figure out) and their plot smoothers
``views/``         view-models: display tables, report text and advice, derived numbers, effects,
                   comparison, code generation, bootstrap and Plan views, the report document
``spec/``          the model specification (widget model ⇄ formula) and the data design
``files/``         uploaded data, the workspace file, software versions
``background/``    background jobs in threads and worker processes, with progress and cancel
``engine.py``      the one doorway to :mod:`mm_core`, beneath every layer
=================  ==============================================================================

Rules (checked by ``tests/gui/test_layers.py``): nothing outside ``shell/`` imports Streamlit or
the shell; figures import only figures and the engine; only the shell starts background jobs; pages
use ``gui`` and never import :mod:`mm_core` or the background jobs; the shell's imports go one
way (``page`` → ``widgets`` → ``actions`` → ``state``).
"""
