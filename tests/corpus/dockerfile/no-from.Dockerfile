# no FROM at all
ARG X=1
