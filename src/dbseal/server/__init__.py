"""The backup receiver (`dbseal serve`): a repository offered to dbseal clients over mutual TLS.

* :mod:`dbseal.server.wire`: the protocol (HTTP/1.1 over TLS 1.3), shared with
  :class:`dbseal.storage.remote.RemoteBackend`;
* :mod:`dbseal.server.receiver`: the threaded server and its TLS and identity checks;
* :mod:`dbseal.server.handler`: each request mapped onto the receiver's own ``Backend``;
* :mod:`dbseal.server.httphead`: strict reading of request heads;
* :mod:`dbseal.server.admission`, :mod:`dbseal.server.refusals`: pending handshakes, refusal log;
* :mod:`dbseal.server.session`: the configuration and what the handler needs from the receiver.

Certificates for `dbseal tls init/issue` come from :mod:`dbseal.crypto.pki`.

The receiver only ever sees sealed objects: clients seal before they send.
Nothing here is imported by ``import dbseal.server``, so the client side pays
only for the wire module.
"""
