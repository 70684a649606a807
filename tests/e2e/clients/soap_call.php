<?php
// One SOAP call through PHP's SoapClient, configured as PHP's manual shows:
// {"wsdl", "login", "password", "operation", "fields"} on stdin; the result, or the
// SoapFault with its parsed detail, as JSON on stdout.
$call = json_decode(file_get_contents('php://stdin'), true);
$client = new SoapClient($call['wsdl'], [
    'login' => $call['login'],
    'password' => $call['password'],
    'features' => SOAP_SINGLE_ELEMENT_ARRAYS,
    'cache_wsdl' => WSDL_CACHE_NONE,
    'exceptions' => true,
]);
try {
    $result = $client->__soapCall($call['operation'], [$call['fields']]);
    echo json_encode(['result' => $result]);
} catch (SoapFault $fault) {
    echo json_encode(['fault' => [
        'code' => $fault->faultcode,
        'message' => $fault->faultstring,
        'detail' => $fault->detail ?? null,
    ]]);
}
