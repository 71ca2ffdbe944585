# git clone of a floating branch, not verified
FROM debian@sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd
RUN git clone --branch main https://github.com/apache/tvm /opt/tvm
