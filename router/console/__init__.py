"""The console: a web page every router serves at ``/console`` to watch and
teach with (tables and items, the cluster's nodes and partitions live, chaos,
streams and triggers, capacity). Plain HTML, CSS and JavaScript in
``static/``, no build step; `app` serves them and the console's JSON API."""
