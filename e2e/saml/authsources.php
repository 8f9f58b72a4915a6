<?php
// Static users: `mail`, `displayName` and a multi-valued `groups`.
$config = [
    'admin' => ['core:AdminPassword'],
    'example-userpass' => [
        'exampleauth:UserPass',
        'ada:ada-password' => [
            'uid' => ['ada'],
            'mail' => ['ada@acme.example'],
            'displayName' => ['Ada Lovelace'],
            'groups' => ['engineering', 'audit', 'unmapped'],
        ],
        'grace:grace-password' => [
            'uid' => ['grace'],
            'mail' => ['grace@acme.example'],
            'displayName' => ['Grace Hopper'],
            'groups' => ['engineering'],
        ],
    ],
];
