"""住基ネット照会 (through the 市町村CS) for the linkage workflow when the applicant gave no
number (docs/domain.md, "My Number").

``services.jukinet.client``: the query rule (only the 4 items 氏名・生年月日・性別・住所, or
the 3 items without 性別) and the httpx client ``query_jukinet``. ``services.jukinet.sim``:
``juki jukinet-sim``, a local HTTP stand-in for the endpoint, backed by the register, for
the demo and the tests.
"""
