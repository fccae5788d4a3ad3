"""A minimal Django project served over ASGI, with socketwire beside its views.

Run it from the ``examples`` directory::

    uvicorn django_project.asgi:app --port 8000
"""
