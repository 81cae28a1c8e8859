COPY {relation} FROM $frame (from='Item', to='{kind}')
