"""Published reactive simulators (SARDINE, RecSim interest evolution) and our policies trained and measured in them."""
