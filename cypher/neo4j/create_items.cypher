// Items the upsert plan found absent; parameters are columns (one list per property), cheaper to send than maps.
UNWIND range(0, size($id) - 1) AS k
CREATE (:Item {id: $id[k], title: $title[k]})
