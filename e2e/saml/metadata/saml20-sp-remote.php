<?php
// The service providers this identity provider serves: written by the
// test once it knows a connection's entity id and assertion consumer
// service (the placeholder below is replaced).
@SP_ENTRIES@
