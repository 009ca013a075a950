-- Names of cluster-scoped objects are global in a cluster: one row per (cluster, API group,
-- kind, name) says which team's request holds it. The cluster is the environments' shared
-- cluster when one is configured (several environments may reconcile in one), else the
-- environment's own name. A create of a cluster-scoped claim takes the row inside its
-- submission transaction (the primary key decides between two teams racing for one name);
-- a holder whose create never reached Git, or whose claim was deleted in Git since, gives
-- the row up to the next request.
CREATE TABLE cluster_names (
    cluster     TEXT NOT NULL,
    api_group   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    team        TEXT NOT NULL,
    request_id  TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    PRIMARY KEY (cluster, api_group, kind, name)
);

-- The name a create took (cluster, group, kind and name, as JSON), so that a retry of its
-- failed Git job takes it again or is refused.
ALTER TABLE requests ADD COLUMN cluster_name TEXT;
