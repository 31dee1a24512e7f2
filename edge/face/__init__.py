"""Face recognition of members who consented: enrolment, 1:N identification and liveness.

The CPU work (dlib through face_recognition) runs in worker processes (``pool``); the daemon's
process keeps the decrypted gallery (``gallery``), the per-camera decisions (``session``,
``liveness``) and the consent records (``consent``). ``service.FaceService`` is the one object
the app, the UI and the CLI talk to.
"""
