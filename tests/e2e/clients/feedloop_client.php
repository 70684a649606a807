<?php
// PHP's SoapClient for feedloop, configured as PHP's manual shows: from the WSDL, HTTP
// Basic credentials, lists always arrays, no WSDL cache, faults as exceptions.
// $call holds "wsdl", "login" and "password".
function feedloop_client(array $call): SoapClient {
    return new SoapClient($call['wsdl'], [
        'login' => $call['login'],
        'password' => $call['password'],
        'features' => SOAP_SINGLE_ELEMENT_ARRAYS,
        'cache_wsdl' => WSDL_CACHE_NONE,
        'exceptions' => true,
    ]);
}
