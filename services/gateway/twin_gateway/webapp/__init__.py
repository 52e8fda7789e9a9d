"""The web app the gateway serves: Chat, Library, Models and Monitor pages under /app/, their static assets
(plain HTML, CSS and JavaScript modules, nothing fetched from the internet, no build step), and the small JSON API
under /app/api/ that the pages need beyond twin.v1 (documents with their journeys, passages, URL imports, the model
registry, the monitor's reports). Sign-in is an API key kept in the browser's sessionStorage and sent as
`Authorization: Bearer` - never in a URL. See docs/webapp.md.

    install(app, runtime)   # adds the pages, the assets and /app/api to the gateway's HTTP app
"""

from twin_gateway.webapp.routes import install

__all__ = ["install"]
