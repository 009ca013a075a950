-- Names of cluster-scoped objects are global in a cluster: one row per (environment, API
-- group, kind, name) says which team's request holds it. A create of a cluster-scoped claim
-- takes the row inside its submission transaction (the primary key decides between two
-- teams racing for one name); a holder whose create never reached Git, or whose claim was
-- deleted in Git since, gives the row up to the next request.
CREATE TABLE cluster_names (
    environment TEXT NOT NULL,
    api_group   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    team        TEXT NOT NULL,
    request_id  TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    PRIMARY KEY (environment, api_group, kind, name)
);
